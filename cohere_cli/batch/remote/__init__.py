"""batch.remote"""
