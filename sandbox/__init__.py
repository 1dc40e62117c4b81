"""``theon.sandbox``: Theano's ``theano.sandbox`` names (``rng_mrg``)."""
