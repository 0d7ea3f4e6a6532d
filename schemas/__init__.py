"""Wire models of edoc-hub: package, header, reports, events, reason codes. No I/O, no crypto."""
