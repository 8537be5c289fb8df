"""Review sessions: a person labels a set of uploaded photos one card at a time."""
