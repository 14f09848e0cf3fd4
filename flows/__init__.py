"""Synthesis flows (ECP5 via yowasp yosys/nextpnr/ecppack, Kintex-7 via synth_xilinx) and reports."""
