"""``testbed demo``: a console for class, one call at a time, on either network.

- ``console``: the commands, each a method of ``Demo`` (the tests call them), and their parsing;
- ``network``: one call or flow placed through the call model on a carrier (``sim``, ``emu``);
- ``transcript``: the lines printed and the outcome's word (pure);
- ``decode``: one packet as Wireshark's packet list shows it (pure);
- ``shell``: the interactive layer (``cmd`` + readline) and the script mode.
"""
