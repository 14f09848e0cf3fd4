"""Amaranth 0.5 generators for the spiking LSTM datapath (neurons, accumulators, scheduler)."""
