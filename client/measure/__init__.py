"""On-device measurement harness: runnable NB201/FBNet networks, robust timing, the hardware
descriptor, and the ``client measure`` loop that feeds the service.

Modules: :mod:`~client.measure.networks` (torch modules from arch strings),
:mod:`~client.measure.timing` (median and spread, noisy-machine re-measurement),
:mod:`~client.measure.descriptor` and :mod:`~client.measure.perf` (what the device is),
:mod:`~client.measure.loop` (suggest, measure, upload, evaluate) and
:mod:`~client.measure.command` (the CLI). Nothing is imported here, so importing the package
costs nothing; torch is loaded only when a network is built.
"""
