// Starts GOV.UK Frontend's components. Pages work without it: this only adds enhancements.
import { initAll } from "/assets/govuk-frontend.min.js";

initAll();
