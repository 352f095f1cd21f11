from runtime.commands.process import entry

entry()
