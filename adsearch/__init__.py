"""adsearch."""
