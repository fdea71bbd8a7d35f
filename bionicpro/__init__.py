"""BionicPRO Reports: core helpers shared by flows, tasks, seed and CLI."""
