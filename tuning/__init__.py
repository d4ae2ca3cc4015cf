"""KerasTuner search for any registered application (see `tuning.search`)."""
