"""Secret backends against loopback servers that speak the real protocols (see tests.support.secretservers)."""
