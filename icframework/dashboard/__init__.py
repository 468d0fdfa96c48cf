"""The dashboard: pages a person would rather look at than read logs."""
