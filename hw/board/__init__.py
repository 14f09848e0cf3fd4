"""The board around the network: UART receiver and transmitter (:mod:`.uart`), the
byte protocol both ends share (:mod:`.protocol`) and the board top (:mod:`.top`).

Hardware only: nothing here imports :mod:`flows` (the tool steps and the host script
sit above it and import from here).
"""
