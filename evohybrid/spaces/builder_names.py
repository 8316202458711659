"""The builder's named choices, apart from its torch code so that the config schema checks them cheaply."""

TRAINABLE_SETS = ("bn", "bn+head", "head", "all")  # which parameters a fitness trains; the rest stay random
BN_INITS = ("uniform", "ones")  # how BatchNorm's gamma starts
