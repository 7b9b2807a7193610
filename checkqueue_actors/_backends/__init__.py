"""Queue backends; each is loaded only when used."""
