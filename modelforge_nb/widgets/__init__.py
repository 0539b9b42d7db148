"""What a person sees: notebook widgets and a plain-text renderer for terminals and CI."""
