"""Files we write and read safely: atomic writes, safe names from data, one owner per run folder, limits on what a scan reads."""
