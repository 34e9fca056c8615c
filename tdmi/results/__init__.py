"""Read-only views of the workbench's results for the dashboard: MLflow runs, Optuna studies, DVC
metrics files, prediction overlays, and the rule that turns our ablations into verdicts on the
paper's claims. Plain functions returning DataFrames, so the Streamlit pages stay thin and every
number they show is tested here without a browser.
"""
