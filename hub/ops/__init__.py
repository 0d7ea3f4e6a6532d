"""The operator's back office without HTTP: live monitor, flow statistics, rejected queue and
reprocessing, parked records.
"""
