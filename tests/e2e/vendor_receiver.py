"""The vendor in the end-to-end test is the project's vendor simulator, which verifies every signature."""

from tierline_launcher.vendor_simulator import Received, VendorSimulator

VendorReceiver = VendorSimulator

__all__ = ["Received", "VendorReceiver"]
