# Real Kafka and PostgreSQL fixtures for every test folder (see tierline_launcher.pytest_plugin).
pytest_plugins = ["tierline_launcher.pytest_plugin"]
