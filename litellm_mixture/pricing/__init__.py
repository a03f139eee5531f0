"""What a mixture costs: one call's price, a run's estimate and budget, the summed cost."""
