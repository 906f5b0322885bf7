"""History: what a SuperChart or a Report widget plots, in the Java server's own file format.

`files` (the on-disk layout), `aggregate` (minute/hour/day averages kept in memory), `periods` (graph
periods), `graph` (GET_ENHANCED_GRAPH_DATA payloads), `export` (CSV files), `recorder` (the part the
server wires: which pins are logged, the minute flush, retention) and `reports` (Report widget schedules).
"""
