"""Study-level reasoning: the series of one study read together (acquisitions ordered in time, one injection, header evidence as a second opinion)."""
