"""Where the server keeps its data: profile files, backups of the data folder."""
