from englog.cli import main

main()
