from central_hub.cli import main

main()
