"""The audit recorder: edoc.events → the signature log, with signed checkpoints."""
