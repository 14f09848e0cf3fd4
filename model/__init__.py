"""Spiking LSTM models: numeric rules, configuration, integer golden model, float twin."""
