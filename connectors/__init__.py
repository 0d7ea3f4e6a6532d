"""Agency-side SDK and adapters; talk to the hub only through topics or its HTTP gateway."""
