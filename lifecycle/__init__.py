"""A model's life after training: its folder staged and published (``folders``), its record in
the registry, promoted, rolled back (``registry``), the gate's decision (``gate``) and the models
served for each request (``server``). The app, ``slope models`` and the improvement jobs all use it."""
