"""Search spaces: genomes, the spaces they come from, their kinds (conv2d, conv1d) and the networks they build."""
