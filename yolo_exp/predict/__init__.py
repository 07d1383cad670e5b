"""`python predict.py`: detections on images, folders, videos and streams, into a run folder."""
