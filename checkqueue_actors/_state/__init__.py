"""Sans-IO queue state: synchronous and pure, never imports trio."""
