"""Results of the checks a command makes, and the reports rendered from them."""
