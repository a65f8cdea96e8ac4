"""The feature server: Feast's HTTP shape over the online store (``featurelake serve``)."""
