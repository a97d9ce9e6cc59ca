"""Everything that talks to GitHub: the gateway (the only module that calls GitHub), posting
results, the webhook receiver, provisioning, the sweep and finalize."""
