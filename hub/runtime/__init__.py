"""Composition: `edoc serve` (services, supervision), service probes, logging."""
