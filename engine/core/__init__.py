"""Engine infrastructure shared by every capability: data root, database, errors, logging, devices."""
