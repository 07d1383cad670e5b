"""More than one process: torch.distributed setup and ranks (dist), SLURM/submitit task groups (cluster), the one-command DDP launch (launch)."""
