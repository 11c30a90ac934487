from facectl.cli.main import cli

cli()
