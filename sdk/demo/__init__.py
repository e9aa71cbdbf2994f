"""The offline end-to-end demo (`sdk demo`) and the local stand-ins it runs: moto, Terraform, `sdk serve`."""
