"""The state in a SQL database (SQLAlchemy): load, apply in one locked transaction, history."""
