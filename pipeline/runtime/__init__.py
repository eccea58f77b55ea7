"""What a run needs around the graph: engines (Prism, Flink), the expansion service, processes, the output folder."""
