"""`make bench`: confirmbot measured against the limits it lives under (issue 8).

`python -m bench.run` prints the table recorded in BENCHMARKS.md. The VK API emulator runs in
a process of its own (`python -m bot.vk_emulator`), and so does every bot measured
(`python -m bench.worker`); this process only drives them and reads the emulator's counters.
"""
