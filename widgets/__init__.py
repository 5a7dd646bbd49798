"""ipywidgets that show live pyctrd state and update from its events."""
