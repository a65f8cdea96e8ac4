"""featurelake's shared kernel: errors and the engine-free feature definition spec."""
