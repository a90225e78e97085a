"""Where the digits come from, and how each framework is fed them."""
