"""Lightning glue: data modules, the classification LightningModule, proxy training, callbacks.

Importing this package imports Lightning; the core (:mod:`gramnas`) does not.
"""
