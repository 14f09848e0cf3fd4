"""cocotb 2.x co-simulation of the generated Verilog against the golden model."""
