"""Template tags of icframework's shared templates."""
